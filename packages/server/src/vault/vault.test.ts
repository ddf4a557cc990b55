import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { EncryptionKeySpec } from "../config/config.ts";
import { addEmbeddedKey, embeddedKeysFile, loadOrCreateEmbeddedKeys, readEmbeddedKeys } from "./embedded-keys.ts";
import { Vault, VaultError, type VaultContext } from "./vault.ts";

const k1: EncryptionKeySpec = { id: "k1", key: randomBytes(32) };
const k2: EncryptionKeySpec = { id: "k2", key: randomBytes(32) };
const place: VaultContext = { table: "connections", column: "access_token", rowId: "cxn_1" };
const secret = "ya29.a0AfH6SMB-secret-access-token";

/** Replaces the dot-separated part `index` of a ciphertext. */
function withPart(ciphertext: string, index: number, change: (part: string) => string): string {
  const parts = ciphertext.split(".");
  parts[index] = change(parts[index] ?? "");
  return parts.join(".");
}

/** Flips one bit in the middle of a base64url part. */
function flipBit(part: string): string {
  const bytes = Buffer.from(part, "base64url");
  const at = Math.floor(bytes.length / 2);
  bytes[at] = (bytes[at] ?? 0) ^ 0x01;
  return bytes.toString("base64url");
}

/** Ciphertext parts by index: `lk1.<keyId>.<wrapIv>.<wrappedKey>.<iv>.<payload>`. */
const tamperableParts: [number, string][] = [
  [2, "wrap iv"],
  [3, "wrapped data key"],
  [4, "payload iv"],
  [5, "payload"],
];

describe("Vault", () => {
  it("decrypts what it encrypted, for empty, unicode and long values", () => {
    const vault = new Vault([k1]);
    for (const value of ["", secret, "ünïcødé ✓ 🔑", "x".repeat(100_000)]) {
      expect(vault.decrypt(vault.encrypt(value, place), place)).toBe(value);
    }
  });

  it("never puts the plaintext in the ciphertext, and encrypts the same value differently each time", () => {
    const vault = new Vault([k1]);
    const first = vault.encrypt(secret, place);
    const second = vault.encrypt(secret, place);
    expect(first).not.toContain(secret);
    expect(first).not.toContain(Buffer.from(secret).toString("base64url"));
    expect(first).not.toBe(second);
  });

  it("records the id of the key it was encrypted with", () => {
    const vault = new Vault([k2, k1]);
    const ciphertext = vault.encrypt(secret, place);
    expect(vault.currentKeyId).toBe("k2");
    expect(vault.keyIdOf(ciphertext)).toBe("k2");
    expect(ciphertext.startsWith("lk1.k2.")).toBe(true);
    expect(vault.keyIds).toEqual(["k2", "k1"]);
  });

  it("refuses to start without a key", () => {
    expect(() => new Vault([])).toThrow(VaultError);
  });

  describe("binds each ciphertext to its table, column and row (AAD)", () => {
    const vault = new Vault([k1]);
    const ciphertext = vault.encrypt(secret, place);

    it.each([
      ["another row", { ...place, rowId: "cxn_2" }],
      ["another column", { ...place, column: "refresh_token" }],
      ["another table", { ...place, table: "connectors" }],
      ["a row id that only differs by a suffix", { ...place, rowId: "cxn_10" }],
    ])("fails to decrypt under %s", (_name, elsewhere) => {
      expect(() => vault.decrypt(ciphertext, elsewhere)).toThrow(VaultError);
    });

    it("fails when ciphertexts of two rows are swapped", () => {
      const rowA = { ...place, rowId: "cxn_a" };
      const rowB = { ...place, rowId: "cxn_b" };
      const ofA = vault.encrypt("token of a", rowA);
      const ofB = vault.encrypt("token of b", rowB);
      expect(() => vault.decrypt(ofA, rowB)).toThrow(VaultError);
      expect(() => vault.decrypt(ofB, rowA)).toThrow(VaultError);
      expect(vault.decrypt(ofA, rowA)).toBe("token of a");
    });

    it("cannot be moved to another row by swapping only the payload under a valid wrapped key", () => {
      const rowA = { ...place, rowId: "cxn_a" };
      const rowB = { ...place, rowId: "cxn_b" };
      const ofA = vault.encrypt("token of a", rowA).split(".");
      const ofB = vault.encrypt("token of b", rowB).split(".");
      const spliced = [...ofB.slice(0, 4), ...ofA.slice(4)].join(".");
      expect(() => vault.decrypt(spliced, rowB)).toThrow(VaultError);
    });
  });

  describe("after a value was read once (its data key is remembered)", () => {
    const vault = new Vault([k2, k1]);
    const ciphertext = vault.encrypt(secret, place);
    beforeAll(() => {
      expect(vault.decrypt(ciphertext, place)).toBe(secret);
    });

    it("still reads it, and still refuses it under another row, column or table", () => {
      expect(vault.decrypt(ciphertext, place)).toBe(secret);
      for (const elsewhere of [
        { ...place, rowId: "cxn_2" },
        { ...place, column: "refresh_token" },
        { ...place, table: "apps" },
      ]) {
        expect(() => vault.decrypt(ciphertext, elsewhere)).toThrow(VaultError);
      }
    });

    it.each(tamperableParts)("still refuses part %i (%s) with one bit flipped", (index) => {
      expect(() => vault.decrypt(withPart(ciphertext, index, flipBit), place)).toThrow(VaultError);
    });

    it("still refuses another payload spliced under the remembered wrapped key", () => {
      const other = vault.encrypt("another secret", place).split(".");
      const spliced = [...ciphertext.split(".").slice(0, 4), ...other.slice(4)].join(".");
      expect(() => vault.decrypt(spliced, place)).toThrow(VaultError);
    });
  });

  describe("rejects tampering with any part", () => {
    const vault = new Vault([k2, k1]);
    const ciphertext = vault.encrypt(secret, place);

    it.each(tamperableParts)("part %i (%s) with one bit flipped", (index) => {
      expect(() => vault.decrypt(withPart(ciphertext, index, flipBit), place)).toThrow(VaultError);
    });

    it("a key id changed to another configured key", () => {
      expect(() =>
        vault.decrypt(
          withPart(ciphertext, 1, () => "k1"),
          place,
        ),
      ).toThrow(VaultError);
    });

    it("a changed format version", () => {
      expect(() =>
        vault.decrypt(
          withPart(ciphertext, 0, () => "lk2"),
          place,
        ),
      ).toThrow("Not a Latchkey ciphertext");
    });

    it("a truncated authentication tag", () => {
      expect(() =>
        vault.decrypt(
          withPart(ciphertext, 5, (p) => p.slice(0, 8)),
          place,
        ),
      ).toThrow(VaultError);
      expect(() =>
        vault.decrypt(
          withPart(ciphertext, 5, () => ""),
          place,
        ),
      ).toThrow(VaultError);
    });

    it("missing or extra parts, and text that is no ciphertext at all", () => {
      const parts = ciphertext.split(".");
      for (const broken of [parts.slice(0, 5).join("."), `${ciphertext}.x`, "", "plain text", secret]) {
        expect(() => vault.decrypt(broken, place)).toThrow(VaultError);
      }
    });
  });

  it("says clearly which key is missing when a ciphertext names an unknown key id", () => {
    const old = new Vault([k1]).encrypt(secret, place);
    const withoutK1 = new Vault([k2]);
    expect(() => withoutK1.decrypt(old, place)).toThrow(VaultError);
    expect(() => withoutK1.decrypt(old, place)).toThrow('Encryption key "k1" is not configured');
  });

  it("decrypts values of every configured key, and encrypts new ones with the newest", () => {
    const underK1 = new Vault([k1]).encrypt("old", place);
    const both = new Vault([k2, k1]);
    const underK2 = both.encrypt("new", place);
    expect(both.decrypt(underK1, place)).toBe("old");
    expect(both.decrypt(underK2, place)).toBe("new");
    expect(both.keyIdOf(underK1)).toBe("k1");
    expect(both.keyIdOf(underK2)).toBe("k2");
  });

  describe("rewrap", () => {
    const underK1 = new Vault([k1]).encrypt(secret, place);
    const both = new Vault([k2, k1]);

    it("tells which values are not under the newest key", () => {
      expect(both.needsRewrap(underK1)).toBe(true);
      expect(both.needsRewrap(both.encrypt(secret, place))).toBe(false);
    });

    it("moves a value to the newest key without re-encrypting the payload", () => {
      const rewrapped = both.rewrap(underK1, place);
      expect(both.keyIdOf(rewrapped)).toBe("k2");
      expect(both.needsRewrap(rewrapped)).toBe(false);
      expect(rewrapped.split(".").slice(4)).toEqual(underK1.split(".").slice(4));
      expect(both.decrypt(rewrapped, place)).toBe(secret);
    });

    it("leaves the old key removable: a vault with only the new key decrypts the rewrapped value", () => {
      const rewrapped = both.rewrap(underK1, place);
      expect(new Vault([k2]).decrypt(rewrapped, place)).toBe(secret);
    });

    it("returns a value already under the newest key unchanged", () => {
      const current = both.encrypt(secret, place);
      expect(both.rewrap(current, place)).toBe(current);
    });

    it("refuses to vouch for a value under another row's context", () => {
      expect(() => both.rewrap(underK1, { ...place, rowId: "cxn_2" })).toThrow(VaultError);
    });

    it("refuses a value whose payload was tampered with", () => {
      expect(() => both.rewrap(withPart(underK1, 5, flipBit), place)).toThrow(VaultError);
    });

    it("fails clearly when the value's key is not configured", () => {
      expect(() => new Vault([k2]).rewrap(underK1, place)).toThrow('Encryption key "k1" is not configured');
    });
  });

  it("passes null and undefined through the nullable helpers", () => {
    const vault = new Vault([k1]);
    expect(vault.encryptNullable(null, place)).toBeNull();
    expect(vault.encryptNullable(undefined, place)).toBeNull();
    expect(vault.decryptNullable(null, place)).toBeNull();
    const ciphertext = vault.encryptNullable(secret, place);
    expect(ciphertext).not.toBeNull();
    expect(vault.decryptNullable(ciphertext, place)).toBe(secret);
    expect(() => vault.decryptNullable(ciphertext, { ...place, rowId: "other" })).toThrow(VaultError);
  });
});

describe("embedded keys", () => {
  const dirs: string[] = [];
  async function tempDataDir(): Promise<string> {
    const parent = await fs.mkdtemp(path.join(os.tmpdir(), "latchkey-keys-"));
    dirs.push(parent);
    return path.join(parent, "data");
  }
  afterEach(async () => {
    for (const dir of dirs.splice(0)) await fs.rm(dir, { recursive: true, force: true });
  });

  it("creates the data dir (0700) and a key file readable only by its owner (0600) on first call", async () => {
    const dataDir = await tempDataDir();
    const { keys, created } = await loadOrCreateEmbeddedKeys(dataDir);
    expect(created).toBe(true);
    expect(keys).toHaveLength(1);
    expect(keys[0]?.id).toBe("k1");
    expect(keys[0]?.key).toHaveLength(32);
    expect((await fs.stat(embeddedKeysFile(dataDir))).mode & 0o777).toBe(0o600);
    expect((await fs.stat(dataDir)).mode & 0o777).toBe(0o700);
    expect(await fs.readdir(dataDir)).toEqual(["encryption-keys"]);
  });

  it("reuses the same key on the second call", async () => {
    const dataDir = await tempDataDir();
    const first = await loadOrCreateEmbeddedKeys(dataDir);
    const second = await loadOrCreateEmbeddedKeys(dataDir);
    expect(second.created).toBe(false);
    expect(second.keys[0]?.key.equals(first.keys[0]?.key ?? Buffer.alloc(0))).toBe(true);
  });

  it("never overwrites an existing key file", async () => {
    const dataDir = await tempDataDir();
    await fs.mkdir(dataDir, { recursive: true });
    const text = `mine:${randomBytes(32).toString("base64")},older:${randomBytes(32).toString("base64")}\n`;
    await fs.writeFile(embeddedKeysFile(dataDir), text, { mode: 0o600 });
    const { keys, created } = await loadOrCreateEmbeddedKeys(dataDir);
    expect(created).toBe(false);
    expect(keys.map((k) => k.id)).toEqual(["mine", "older"]);
    expect(await fs.readFile(embeddedKeysFile(dataDir), "utf8")).toBe(text);
  });

  it("gives concurrent first calls one and the same key, created exactly once", async () => {
    const dataDir = await tempDataDir();
    const results = await Promise.all(Array.from({ length: 12 }, () => loadOrCreateEmbeddedKeys(dataDir)));
    expect(results.filter((r) => r.created)).toHaveLength(1);
    const distinct = new Set(results.map((r) => r.keys[0]?.key.toString("base64")));
    expect(distinct.size).toBe(1);
    expect(await fs.readdir(dataDir)).toEqual(["encryption-keys"]);
  });

  it("fails loudly on a corrupt key file and leaves it untouched", async () => {
    const dataDir = await tempDataDir();
    await fs.mkdir(dataDir, { recursive: true });
    await fs.writeFile(embeddedKeysFile(dataDir), "k1:tooshort\n", { mode: 0o600 });
    await expect(loadOrCreateEmbeddedKeys(dataDir)).rejects.toThrow("must be 32 bytes");
    expect(await fs.readFile(embeddedKeysFile(dataDir), "utf8")).toBe("k1:tooshort\n");
  });

  it("reads keys without creating them", async () => {
    const dataDir = await tempDataDir();
    expect(await readEmbeddedKeys(dataDir)).toBeNull();
    await expect(fs.stat(dataDir)).rejects.toThrow();
    const { keys } = await loadOrCreateEmbeddedKeys(dataDir);
    expect((await readEmbeddedKeys(dataDir))?.map((k) => k.id)).toEqual(keys.map((k) => k.id));
  });

  it("adds a new newest key in front and keeps the older ones, still private", async () => {
    const dataDir = await tempDataDir();
    const { keys: before } = await loadOrCreateEmbeddedKeys(dataDir);
    const underK1 = new Vault(before).encrypt(secret, place);
    expect(await addEmbeddedKey(dataDir)).toBe("k2");
    const after = (await readEmbeddedKeys(dataDir)) ?? [];
    expect(after.map((k) => k.id)).toEqual(["k2", "k1"]);
    expect(new Vault(after).decrypt(underK1, place)).toBe(secret);
    expect((await fs.stat(embeddedKeysFile(dataDir))).mode & 0o777).toBe(0o600);
    expect(await addEmbeddedKey(dataDir)).toBe("k3");
  });
});

import type { ServiceKeyInfo } from "@latchkey/contracts";
import { type IssuedKey, keyStore } from "../access/key-store.ts";
import { keyInfo } from "../access/secret-keys.ts";

/** Service keys: an app's credentials. Several may be active at once, so a key can be rotated without downtime. */
export const serviceKeys = keyStore<ServiceKeyInfo>({
  table: "service_keys",
  owner: "app_id",
  idPrefix: "sk",
  secret: "service",
  toWire: (stored) => ({ ...keyInfo(stored), app_id: stored.owner_id }),
});

export type IssuedServiceKey = IssuedKey<ServiceKeyInfo>;

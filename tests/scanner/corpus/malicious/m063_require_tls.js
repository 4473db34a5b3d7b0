const tls = require('node:tls');
tls.connect(443, 'c2.example');

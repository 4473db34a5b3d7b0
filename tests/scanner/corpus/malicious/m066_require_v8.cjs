const v8 = require('v8');
v8.setFlagsFromString('--allow-natives-syntax');

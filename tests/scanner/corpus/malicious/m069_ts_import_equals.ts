import vm = require('vm');
vm.runInNewContext(code);

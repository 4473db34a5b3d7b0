const vm = require('vm');
vm.runInThisContext(code);

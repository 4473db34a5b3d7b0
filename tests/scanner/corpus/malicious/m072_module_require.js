const vm = module.require('vm');

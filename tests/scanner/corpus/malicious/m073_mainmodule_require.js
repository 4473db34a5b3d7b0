process.mainModule.require('vm').runInThisContext(code);

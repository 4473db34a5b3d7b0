const cluster = require('cluster');
if (cluster.isPrimary) cluster.fork();

setTimeout('process.exit(1)', 10);

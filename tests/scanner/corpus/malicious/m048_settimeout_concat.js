setTimeout('run(' + arg + ')', 0);

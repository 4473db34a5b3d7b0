require('repl').start('> ');

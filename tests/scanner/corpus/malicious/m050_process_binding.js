const spawn = process.binding('spawn_wrap');

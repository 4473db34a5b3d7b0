const mod = { exports: {} };
process.dlopen(mod, '/tmp/x.so');

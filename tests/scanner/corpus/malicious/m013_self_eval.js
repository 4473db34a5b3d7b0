self['eval'](data);

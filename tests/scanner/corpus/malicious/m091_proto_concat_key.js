target['__pro' + 'to__'].polluted = 1;

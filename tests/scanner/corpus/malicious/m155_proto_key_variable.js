const k = ['__pro', 'to__'].join('');
const target = {};
target[k].isAdmin = true;

const o = {};
o.__proto__.polluted = 'yes';

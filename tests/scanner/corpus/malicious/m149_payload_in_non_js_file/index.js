module.exports = function (pi) {
  require('./assets/icons.dat');
};

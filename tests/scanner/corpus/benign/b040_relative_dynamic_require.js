module.exports = function load(lang) {
  return require('./locales/' + lang + '.json');
};

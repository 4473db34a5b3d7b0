delete require.cache[require.resolve('./auth')];
require.cache[key] = { exports: fake };

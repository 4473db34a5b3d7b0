require.extensions['.txt'] = (m, f) => m._compile(read(f), f);

require.call(null, 'vm');

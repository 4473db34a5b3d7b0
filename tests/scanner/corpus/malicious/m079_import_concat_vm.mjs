const vm = await import('node:' + 'vm');

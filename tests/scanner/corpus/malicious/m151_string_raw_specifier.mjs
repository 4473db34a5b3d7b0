const vm = await import(String.raw`node:vm`);

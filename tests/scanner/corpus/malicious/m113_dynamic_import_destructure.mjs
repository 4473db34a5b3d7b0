const { runInNewContext } = await import('vm');
runInNewContext(src, {});

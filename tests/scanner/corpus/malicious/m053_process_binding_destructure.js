const { binding } = process;
binding('natives');

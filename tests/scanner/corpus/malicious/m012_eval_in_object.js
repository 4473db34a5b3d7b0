const tools = { run: eval };
tools.run(cmd);

setTimeout`process.exit(1)`;

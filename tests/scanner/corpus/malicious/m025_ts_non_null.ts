let runner: typeof eval | undefined = eval;
runner!(code);

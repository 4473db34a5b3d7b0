declare const payload: string;
(eval as any)(payload as string);

export class AppError extends Error {
  constructor(msg: string) {
    super(msg);
    Object.setPrototypeOf(this, AppError.prototype);
  }
}

import { Type } from 'typebox';

/** A row's id: a positive integer that PostgreSQL's bigint and JavaScript's number both hold exactly. */
export const RowId = () => Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER });

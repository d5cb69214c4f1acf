-- The household archive (困难职工档案, "一户一档"): one row per household, its family members and
-- the aid it received, and a log of every import. Enumerated fields hold the vocabulary's
-- canonical text; money is in fen (分); dates are ISO YYYY-MM-DD.

CREATE TABLE households (
    staff_no          TEXT PRIMARY KEY NOT NULL,   -- 职工编号
    name              TEXT NOT NULL,               -- 姓名
    sex               TEXT NOT NULL,               -- 性别
    ethnicity         TEXT,                        -- 民族
    id_number         TEXT NOT NULL UNIQUE,        -- 身份证号
    education         TEXT,                        -- 文化程度
    politics          TEXT,                        -- 政治面貌
    category          TEXT NOT NULL,               -- 困难类别
    model_worker      TEXT,                        -- 劳模类别
    health            TEXT,                        -- 健康状况
    work_status       TEXT,                        -- 身份
    housing_type      TEXT,                        -- 住房类型
    housing_area      TEXT,                        -- 住房面积
    industry          TEXT,                        -- 所属行业
    hukou             TEXT,                        -- 户口类型
    unit_nature       TEXT,                        -- 单位性质
    enterprise_status TEXT,                        -- 企业状况
    single_parent     TEXT,                        -- 是否单亲
    medical_insurance TEXT,                        -- 是否进入医保
    self_help         TEXT,                        -- 是否有一定自救能力
    zero_employment   TEXT,                        -- 是否为零就业家庭
    on_dibao          TEXT,                        -- 是否享受低保
    causes            TEXT,                        -- 致困主要原因, joined by 、
    personal_income   INTEGER,                     -- 本人年收入 (fen)
    household_income  INTEGER NOT NULL,            -- 家庭年度总收入 (fen)
    household_size    INTEGER NOT NULL,            -- 家庭人口
    household_expense INTEGER,                     -- 家庭年度支出 (fen)
    medical_expense   INTEGER,                     -- 年医疗费个人支出 (fen)
    tuition           INTEGER,                     -- 年学费支出 (fen)
    phone             TEXT,                        -- 联系电话
    address           TEXT,                        -- 家庭住址
    employer          TEXT,                        -- 工作单位
    filed_on          TEXT,                        -- 建档日期
    status            TEXT NOT NULL,               -- 档案状态
    lifted_on         TEXT                         -- 脱困日期
) WITHOUT ROWID;

CREATE TABLE members (
    staff_no           TEXT NOT NULL REFERENCES households (staff_no) ON DELETE CASCADE,
    name               TEXT NOT NULL,              -- 姓名
    relation           TEXT NOT NULL,              -- 关系
    sex                TEXT,                       -- 性别
    status             TEXT,                       -- 身份
    id_number          TEXT,                       -- 身份证号
    health             TEXT,                       -- 健康状况
    income             INTEGER,                    -- 年收入 (fen)
    occupation         TEXT,                       -- 就业（学）状况
    school_or_employer TEXT,                       -- 单位或学校
    PRIMARY KEY (staff_no, name, relation)
) WITHOUT ROWID;

-- An aid record is identified by everything it says: the same record imported twice is one record.
CREATE TABLE aid (
    id       INTEGER PRIMARY KEY,
    staff_no TEXT NOT NULL REFERENCES households (staff_no) ON DELETE CASCADE,
    date     TEXT NOT NULL,                        -- 日期
    kind     TEXT NOT NULL,                        -- 帮扶类型
    amount   INTEGER NOT NULL,                     -- 金额 (fen)
    note     TEXT NOT NULL DEFAULT '',             -- 备注
    UNIQUE (staff_no, date, kind, amount, note)
);
CREATE INDEX aid_by_date ON aid (date);

CREATE TABLE imports (
    id             INTEGER PRIMARY KEY,
    file_name      TEXT NOT NULL,
    sha256         TEXT NOT NULL,
    kind           TEXT NOT NULL,
    imported_at    TEXT NOT NULL,                  -- RFC 3339, Asia/Shanghai
    rows_read      INTEGER NOT NULL,
    rows_new       INTEGER NOT NULL,
    rows_updated   INTEGER NOT NULL,
    rows_unchanged INTEGER NOT NULL,
    rows_rejected  INTEGER NOT NULL
);

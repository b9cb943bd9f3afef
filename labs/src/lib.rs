//! Labs for the servercore course: you write the send path, the course's
//! own tests grade it. See `labs/README.md`.
